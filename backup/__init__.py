"""The backup service. For now only its process: it joins the bus and the
registry and reports health; backup and restore workflows come later."""
