package canarygate.builtin.rules.sneaky

items contains {"code": "X", "message": "shadowing the built-ins"}
