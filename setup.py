from setuptools import find_packages, setup

# The shipped conf files live at the top of the checkout (``gunicorn -c conf/json.py``) and
# are installed from that one copy as the package ``gunicorn_loggers.conf``
# (``gunicorn -c python:gunicorn_loggers.conf.json``).
setup(
    packages=[*find_packages(include=["gunicorn_loggers", "gunicorn_loggers.*"]), "gunicorn_loggers.conf"],
    package_dir={"gunicorn_loggers.conf": "conf"},
)
