"""The Blender side of the add-on: everything that imports bpy. The UI (panel, operators, server operators,
scene properties, preferences), the timer that drives backend jobs from Blender's main loop (jobs), building
and keying the scene from a take (animation) and the mesh exports (export)."""
