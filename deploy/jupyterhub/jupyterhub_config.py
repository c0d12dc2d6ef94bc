"""JupyterHub for one or more keras-classroom courses, from one settings file.

Start it as root (it starts each user's server as that user's Unix account)::

    jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

The settings are in ``courses.toml`` next to this file, or in the file ``KERAS_CLASSROOM_HUB``
names. What it sets up, for every course ``<course>`` of the settings:

- **Users.** Learners and instructors log in with their Unix accounts (PAM); only the accounts
  named in the settings may. Each gets JupyterLab (``jupyterhub-singleuser``) as their own
  account, in their home folder.
- **Groups.** ``nbgrader-<course>`` holds the learners and ``formgrade-<course>`` the
  instructors: nbgrader's own names, from which its Assignment List and Course List know who
  belongs to which course.
- **Roles** (JupyterHub RBAC). ``formgrade-<course>`` lets its group open the course's
  formgrader service and see it in the Course List; ``grader-<course>`` lets the service read
  users' groups and change the membership of ``nbgrader-<course>`` (the formgrader's
  "add student"). Learners hold no role beyond JupyterHub's own ``user``: the service answers
  them 403.
- **The formgrader** of each course is a service the hub starts and keeps running:
  ``jupyterhub-singleuser`` as the course's grader account, in the course folder, with
  nbgrader's server extensions, at ``/services/<course>/``. Since JupyterHub 4.1 a server
  forbids being framed (``Content-Security-Policy: frame-ancestors 'none'``), which leaves the
  formgrader panel of JupyterLab blank (nbgrader #1870). nbgrader took back its own loosening of
  that policy (#1947; 0.9.6 keeps it), and so does this hub: instructors open
  ``/services/<course>/formgrader`` in a browser tab of its own, where nothing is framed.
- **The exchange.** Everyone's nbgrader reads ``nbgrader/exchange/nbgrader_config.py``
  (``Exchange.root`` from the settings, ``Exchange.path_includes_course = True``, collection
  that refuses forged submissions).
- **Learners see learner tools only**: their servers read ``config/learner-lab`` first (as
  ``make lab`` does: no Formgrader, Create Assignment or Course List) and
  ``nbgrader/learner/nbgrader_config.py`` (courses by hub group). Instructors' servers keep
  every nbgrader tool.

Grading stays where it is: in the course folder, as the grader account (a terminal of the
formgrader service), ``autograder grade <course folder> <assignment>`` runs every submission
confined, as on one machine.
"""

import os
import pwd
import tomllib
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub provides it)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SETTINGS = Path(os.environ.get("KERAS_CLASSROOM_HUB", HERE / "courses.toml"))
settings = tomllib.loads(SETTINGS.read_text(encoding="utf-8"))
hub = settings["hub"]
courses = settings.get("courses", {})

PYTHON_BIN = Path(hub["python"]) / "bin"
STATE = Path(hub["state_dir"])
EXCHANGE_CONFIG = HERE / "nbgrader" / "exchange"
LEARNER_CONFIG = [REPO / "config" / "learner-lab", HERE / "nbgrader" / "learner"]


def _account(name: str) -> pwd.struct_passwd:
    """Return the Unix account of a user the settings name, or stop with the settings file."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise SystemExit(f"{SETTINGS}: {name!r} is not a Unix account on this machine "
                         "(create it with useradd first)") from None


def _environment(config_path: list[Path]) -> dict[str, str]:
    """The variables every server of the hub starts with.

    nbgrader runs ``alembic`` from PATH when it makes a gradebook, so the environment's own
    bin/ comes first; JUPYTER_CONFIG_PATH decides which tools the server shows.
    """
    return {
        "PATH": os.pathsep.join([str(PYTHON_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "JUPYTER_CONFIG_PATH": os.pathsep.join(str(path) for path in config_path),
        "KERAS_CLASSROOM_EXCHANGE": hub["exchange"],
    }


# ------------------------------------------------------------------------ the hub and its proxy

c.JupyterHub.ip = hub.get("ip", "0.0.0.0")
c.JupyterHub.port = int(hub.get("port", 8000))
if hub.get("ssl_key"):
    c.JupyterHub.ssl_key = hub["ssl_key"]
    c.JupyterHub.ssl_cert = hub["ssl_cert"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(hub.get("hub_port", 8081))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(hub.get('proxy_api_port', 8001))}"
c.ConfigurableHTTPProxy.command = [hub.get("proxy", "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
# The hub alone decides who is in which course: groups are set from the settings at each start.
c.JupyterHub.load_groups = {}
c.JupyterHub.load_roles = []
c.JupyterHub.services = []

# ----------------------------------------------------------------------------------- the users

instructors = {name for course in courses.values() for name in course.get("instructors", [])}
learners = {name for course in courses.values() for name in course.get("learners", [])}
admins = set(hub.get("admins", []))
for name in sorted(instructors | learners | admins):
    _account(name)

c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = instructors | learners | admins
c.Authenticator.admin_users = admins
# Logging in checks the password; PAM sessions (utmp, pam_systemd) are not needed for a server.
c.PAMAuthenticator.open_sessions = False

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(PYTHON_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# A busy machine imports JupyterLab's extensions slowly: wait longer than JupyterHub's 30 s.
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 180
c.Spawner.environment = _environment(LEARNER_CONFIG + [EXCHANGE_CONFIG])
# The server's own token ($JUPYTERHUB_API_TOKEN, which nbgrader's Assignment List and Course
# List use) also reads its user's groups, and for an instructor the course services; a token
# gets only the scopes its user holds, so a learner's never lists the services.
c.Spawner.server_token_scopes = [
    "users:activity!user", "access:servers!server",
    "read:users:name!user", "read:users:groups!user",
    "list:services", "read:services",
]


def pre_spawn_hook(spawner) -> None:
    """Give an instructor's server every nbgrader tool; a learner's keeps the learner view.

    Args:
        spawner: The spawner about to start a user's server.
    """
    if spawner.user.name in instructors:
        spawner.environment = _environment([EXCHANGE_CONFIG])


c.Spawner.pre_spawn_hook = pre_spawn_hook

# ------------------------------------------------------------------------------------ courses

for course_id, course in courses.items():
    grader = _account(course["grader"])
    formgrade, students = f"formgrade-{course_id}", f"nbgrader-{course_id}"
    c.JupyterHub.load_groups[formgrade] = {"users": list(course.get("instructors", []))}
    c.JupyterHub.load_groups[students] = {"users": list(course.get("learners", []))}
    c.JupyterHub.load_roles += [
        {
            "name": formgrade,
            "description": f"instructors of {course_id}: its formgrader",
            "groups": [formgrade],
            "scopes": [f"access:services!service={course_id}",
                       f"read:services!service={course_id}",
                       f"list:services!service={course_id}"],
        },
        {
            "name": f"grader-{course_id}",
            "description": f"the formgrader of {course_id}: who is in the course",
            "services": [course_id],
            "scopes": ["list:users", "read:users:name", "read:users:groups",
                       f"list:groups!group={students}", f"read:groups!group={students}",
                       f"groups!group={students}"],
        },
    ]
    c.JupyterHub.services.append({
        "name": course_id,
        "display": False,
        "url": f"http://127.0.0.1:{int(course['port'])}",
        "user": grader.pw_name,
        "cwd": course["root"],
        "command": [str(PYTHON_BIN / "jupyterhub-singleuser"),
                    f"--ServerApp.root_dir={course['root']}"],
        "environment": {**_environment([EXCHANGE_CONFIG]), "HOME": grader.pw_dir,
                        "JUPYTERHUB_DEFAULT_URL": "/lab"},
        # Instructors reach it through the hub's login; there is nothing to confirm.
        "oauth_no_confirm": True,
    })
