"""The edges: everything that touches asyncio, Bluetooth, files or the network lives here."""
