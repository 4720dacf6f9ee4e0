"""The portal: server-rendered pages in Bahasa Indonesia for ASN and their supervisors. It calls
the four services' HTTP APIs on behalf of the signed-in person and owns no business data (its
store keeps sign-in sessions and calendar feed links only)."""
