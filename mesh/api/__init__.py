"""The public call API: Global, g.call.fn(...) & MODIFIER, the modifiers."""
