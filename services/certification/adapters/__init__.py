"""What certification's use cases talk to outside the store: the printable PDF with its QR
code, Open Badges credential signing and status lists, the public verification page."""
