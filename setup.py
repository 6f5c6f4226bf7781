from setuptools import find_packages, setup

setup(
    name="amqp-channels",
    version="0.1.0",
    description="A RabbitMQ channel layer for Django Channels: fast, observable, reconnecting.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.11",
    # The operator ships in the same distribution (its code is small); its dependencies
    # come only with the "operator" extra, so `pip install amqp-channels` stays lean.
    packages=[*find_packages(include=["amqp_channels", "amqp_channels.*"]),
              "amqp_channels_operator"],
    package_dir={"amqp_channels_operator": "operator/amqp_channels_operator"},
    package_data={"amqp_channels": ["py.typed"]},
    install_requires=[
        "channels>=4.1,<5",
        "django>=4.2",
        # The AMQP client is our own (amqp_channels/amqp); pamqp encodes its non-hot frames.
        "pamqp>=3.3,<5",
        "msgpack>=1.0",
        # amqp_channels.sync: the publisher for code without an event loop.
        "kombu>=5.3",
        # Tracing and metrics through the API only; without an SDK they cost nothing.
        "opentelemetry-api>=1.27",
    ],
    extras_require={
        "crypto": ["cryptography>=41"],
        "operator": ["kopf>=1.37", "kubernetes>=29", "pyyaml>=6"],
        "test": [
            # The suite and the demo run on the LTS the project targets, whatever the Python
            # (pip would take Django 6 on 3.12+; the layer itself accepts 4.2 and newer).
            "django>=5.2,<6",
            "cryptography>=41",
            "aio-pika>=10",
            "pytest>=8",
            "pytest-asyncio>=1.5",  # the loop-factory hook of tests/conftest.py
            "pytest-timeout>=2.3",
            # integration/: real Daphne processes and websocket clients
            "daphne>=4.1",
            "websockets>=13",
            # uvicorn on uvloop, the other common ASGI server (tests marked ``uvloop`` and
            # integration/tests/test_chat.py)
            "uvicorn>=0.30",
            "uvloop>=0.19",
            # tests/charts/: render and lint the Helm charts offline, validate the manifests
            "helm-python-sdk>=0.2.2",
            "kubernetes-validate>=1.34",
            # operator/tests: the operator's own dependencies and the CRD schema check
            "kopf>=1.37",
            "kubernetes>=29",
            "pyyaml>=6",
            "jsonschema>=4",
            # integration/tests/test_browser.py drives Debian's chromium (no browser download)
            "selenium>=4.15",
            # tests/telemetry and the integration project's exporters
            "opentelemetry-sdk>=1.27",
        ],
        "dev": ["ruff>=0.6", "mypy>=1.11", "import-linter>=2.0"],
        # channels-rabbitmq pins pamqp<4 through carehare; scripts/bench installs it apart.
        "bench": ["channels-redis>=4.2", "aio-pika>=10"],
    },
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
)
