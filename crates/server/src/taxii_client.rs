//! TAXII 2.1 (and 2.0) client: reads a collection page by page into local events.
