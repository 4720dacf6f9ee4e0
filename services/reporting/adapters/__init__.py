"""What reporting says to the outside in its own way: spreadsheet exports, SVG charts and the
dashboard page, and the producers' replay (HTTP request and the temporary queue) of a rebuild."""
