"""relucert's benchmark suite: ``relucert bench run [--suite NAME] [--quick]`` (see runner.py)."""
