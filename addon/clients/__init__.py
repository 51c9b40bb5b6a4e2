"""How the add-on reaches the backend, without bpy: a child process of the backend's CLI (client), the HTTP
service (service_client, service_backend), the local service it can start and stop (local_server), the
thread-backed job both use (threaded_job) and the service health shown in the panel (backend_status).
Standard library only, so all of it runs and is tested outside Blender."""
