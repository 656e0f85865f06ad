"""Read models: one module each, holding its SQL schema, its projection and its queries."""
