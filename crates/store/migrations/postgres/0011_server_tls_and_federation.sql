-- Sync servers (issue 7): the TLS material MISP keeps as files beside a server entry, kept here
-- in the database so every node of a PostgreSQL deployment has it, and who may ask a server in
-- a federated search. Identical in both databases.

-- PEM certificates trusted for the remote instead of the system roots ('' = system roots).
ALTER TABLE servers ADD COLUMN cert_pem TEXT NOT NULL DEFAULT '';
-- PEM client certificate and its private key presented to the remote ('' = none). Secret.
ALTER TABLE servers ADD COLUMN client_cert_pem TEXT NOT NULL DEFAULT '';
-- Whether federated searches ask this server at all.
ALTER TABLE servers ADD COLUMN federated_search BOOLEAN NOT NULL DEFAULT TRUE;
-- Comma-separated local organisation ids whose users may ask it ('' = every user).
ALTER TABLE servers ADD COLUMN federated_org_ids TEXT NOT NULL DEFAULT '';
