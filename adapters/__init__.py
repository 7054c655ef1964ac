"""Platform adapters. Import a platform's subpackage only where it is used."""
