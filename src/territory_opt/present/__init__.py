"""What people read: terminal tables, notebook HTML, the report, maps, JSON views."""
