# nbgrader settings every account of the hub shares: learners' servers and each course's
# formgrader service read them (the hub puts this folder on their JUPYTER_CONFIG_PATH), and so
# does a grader's terminal started from the formgrader. A course's own settings stay in its
# nbgrader_config.py, written by `autograder build-course`.
import os

c = get_config()  # noqa: F821 (nbgrader provides it)

# The exchange folder, from the hub's settings (courses.toml, [hub] exchange).
c.Exchange.root = os.environ.get("KERAS_CLASSROOM_EXCHANGE", "/srv/nbgrader/exchange")
# <root>/<course>/{inbound,outbound,feedback}: several courses share one exchange, and a
# learner's fetched copy lands in ~/<course>/<assignment>/.
c.Exchange.path_includes_course = True
# nbgrader's collect files a submission under whatever learner its folder names; this one
# collects only folders owned by that learner's Unix account (autograder/exchange.py).
c.ExchangeFactory.collect = "autograder.exchange.OwnerCheckedCollect"
