"""Pure data code, importable and tested without bpy: the backend's file formats read and validated with the
standard library (formats: tracks, manifests), the profile reader (profile: face model, texture; Blender's
numpy) and the curve maths for keying (track_math)."""
