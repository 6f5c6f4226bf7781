"""The groups extension: membership, fanout exchanges, group_send and local fan-out."""
