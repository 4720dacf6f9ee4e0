# The services run on eventlet; patch before anything imports socket/threading
# (nameko's pytest plugin no longer does it for us).
import eventlet

eventlet.monkey_patch()
