"""``hdnet_lifecycle_node``: hdnet_node as a ROS 2 managed (lifecycle) node.

The same work as the plain node (:class:`hdnet_ros.node.node_core.NodeCore` on a
:class:`hdnet_ros.node.ros_node.RosTransport`), driven by the lifecycle services that
``ros2 lifecycle set``, launch_ros' lifecycle events or ``nav2_lifecycle_manager`` call:

* ``configure``: reads the parameters, loads the models, creates the (lifecycle) publishers;
  a reason a user can fix (an invalid parameter, a missing model file or package) is logged
  in one line and the node stays unconfigured;
* ``activate``: subscribes, starts the worker and the diagnostics; the publishers publish;
* ``deactivate``: unsubscribes and ends the worker, the models stay loaded; nothing is
  published until the next ``activate``;
* ``cleanup``: releases the pipeline and the publishers (back to unconfigured);
* ``shutdown``: releases everything, from any state;
* an unexpected exception in a transition is logged with its traceback, and ``on_error``
  releases everything and returns to unconfigured.

Parameters are declared at construction and read by ``configure``; they can be set (``ros2
param set``) only while the node is unconfigured.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.parameter import Parameter

from hdnet_ros.node.node_core import NodeCore
from hdnet_ros.node.parameters import NODE_NAME, parameter_specs
from hdnet_ros.node.ros_node import RosTransport, declare_parameters
from hdnet_ros.node.transport import Outcome, TransitionResult

_RETURNS = {
    Outcome.SUCCESS: TransitionCallbackReturn.SUCCESS,
    Outcome.FAILURE: TransitionCallbackReturn.FAILURE,
    Outcome.ERROR: TransitionCallbackReturn.ERROR,
}


def _returned(result: TransitionResult) -> TransitionCallbackReturn:
    return _RETURNS[result.outcome]


class HdnetLifecycleNode(LifecycleNode):
    """The managed hdnet_node (same name, parameters and topics as the plain node)."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__(NODE_NAME, **node_options)
        declare_parameters(self, read_only=False)  # settable while unconfigured, read by configure
        self._names = {spec.name for spec in parameter_specs()}
        self.core = NodeCore(RosTransport(self, lifecycle=True), name=self.get_name())
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        ours = [p.name for p in parameters if p.name in self._names]
        if not ours or self.core.accepts_parameter_changes:
            return SetParametersResult(successful=True)
        return SetParametersResult(
            successful=False,
            reason=f"{', '.join(ours)}: read at configure; deactivate and clean up first "
            f"(the node is {self.core.state.value})",
        )

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return _returned(self.core.configure())

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = self.core.activate()
        if not result.ok:
            return _returned(result)
        return super().on_activate(state)  # enables the lifecycle publishers

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = self.core.deactivate()
        if not result.ok:
            return _returned(result)
        return super().on_deactivate(state)  # disables the lifecycle publishers

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return _returned(self.core.cleanup())

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        return _returned(self.core.shutdown())

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        return _returned(self.core.on_error())

    def stop(self) -> None:
        """Release everything at exit (before destroy_node), whatever the state."""
        self.core.shutdown()
