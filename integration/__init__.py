"""The end-to-end example: a Django chat project under Daphne and a worker, and its tests.

A package only so that ``integration.tests`` never collides with the library's ``tests``
package; the project itself runs with this folder as its working directory.
"""
