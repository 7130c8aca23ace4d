"""The JSON API (Django REST framework): submit images, read and list requests, the service's status."""
