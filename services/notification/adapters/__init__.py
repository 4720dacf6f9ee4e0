"""What notification says to the outside in its own way: the email and webhook channels
(``channels``), the Jinja2 rendering of the message templates (``templates``) and the reader
of recipient CSV uploads (``recipients_csv``)."""
