"""Drop-in import path of the reference's data loaders."""
