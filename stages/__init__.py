"""Pipeline stages in Gopher (MassiveText) order; each module is a pure core plus one PTransform."""
