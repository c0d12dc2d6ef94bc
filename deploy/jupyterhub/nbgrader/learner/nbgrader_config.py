# nbgrader settings of learners' servers only (the hub puts this folder on their
# JUPYTER_CONFIG_PATH, before the shared exchange settings).

c = get_config()  # noqa: F821 (nbgrader provides it)

# A learner lists, fetches and submits only the courses of their hub groups nbgrader-<course>:
# the Assignment List asks the hub which groups its user is in, with the server's own token
# (jupyterhub_config.py grants that token read:users:groups!user).
c.Authenticator.plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"
