"""CRMs in and out: HubSpot and Salesforce requests verified and parsed into leads and funnel
stages for the store (store/crm_inbox.py), scores written back to HubSpot records, and crm.yaml,
the admin's configuration (docs/crm.md). No HTTP server here: serve/routes_crm.py mounts it."""
