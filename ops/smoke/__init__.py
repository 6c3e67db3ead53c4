"""`make smoke-prod`: the production configuration, started without a container engine."""
