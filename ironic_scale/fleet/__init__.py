"""The operator's path onto ironic-scale, through Ironic's REST API (openstacksdk), never the DB.

``fleet import`` enrolls and adopts a fleet from an inventory file; ``fleet migrate`` moves
nodes between the ipmitool and native-ipmi interfaces in stages and rolls them back. Both keep
a per-node journal (``journal.py``) so an interrupted run resumes and a re-run is a no-op.
"""
