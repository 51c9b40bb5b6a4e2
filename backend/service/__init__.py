"""The backend service: a versioned HTTP API (app), a persistent job store (jobstore), one worker per device
(worker; its child process is backend/commands/_child.py), streamed uploads (uploads), access control (security) and the job kinds (jobs).
Started by `talking-head serve`; documented in docs/service.md."""
