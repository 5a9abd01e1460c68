"""Journey tests: a real ``lantern`` process driven as its users drive it, in headless Chromium."""
