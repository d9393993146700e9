"""The HTTP surfaces: one unit of work per request, one error registry, protocol/web/admin/ops."""
