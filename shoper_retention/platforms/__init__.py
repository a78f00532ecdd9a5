"""Platform adapters: one package per shop platform (verify deliveries, call its REST API)."""
