"""The Seatwise web app: static HTML, CSS and JavaScript modules for customers, box office and admins.

Nothing here runs in Python; ``api/routes/web.py`` serves these files (see ``docs/web.md`` for how the app
is organised). The folder is a package so that its files are installed with the service.
"""
