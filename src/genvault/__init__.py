"""genvault: a private, durable history of the images you generate with AI models."""
