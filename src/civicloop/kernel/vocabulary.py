"""The words of the loop: stages, actions, roles, channels and closure reasons, each with its labels.

Every enum member has a Chinese and an English label in the one catalogue
(``kernel/messages/vocabulary.toml``), so errors, the CLI and the UI speak the duty room's language.
"""

from __future__ import annotations

from enum import StrEnum

from civicloop.kernel.i18n import t


class Labelled(StrEnum):
    """A StrEnum whose members have labels in the catalogue (``kernel/messages/vocabulary.toml``)."""

    @property
    def zh(self) -> str:
        return t(f"vocabulary.{self.value}", "zh-CN")

    @property
    def en(self) -> str:
        return t(f"vocabulary.{self.value}", "en")

    def label(self, locale: str | None = None) -> str:
        """The label in *locale* (default: the current locale)."""
        return t(f"vocabulary.{self.value}", locale)


class Stage(Labelled):
    """Internal stage of a case (案卷环节). Side states and loops are stages too."""

    REPORTED = "reported"  # 待受理
    VERIFYING = "verifying"  # 待核实: a public report awaiting an inspector's on-site check
    ACCEPTED = "accepted"  # 待立案
    FILED = "filed"  # 待派遣
    DISPATCHED = "dispatched"  # 处置中
    RETURN_REQUESTED = "return_requested"  # 回退待审批
    EXTENSION_REQUESTED = "extension_requested"  # 延期待审批
    SUSPENSION_REQUESTED = "suspension_requested"  # 挂账待审批
    SUSPENDED = "suspended"  # 挂账
    HANDLED = "handled"  # 处置完毕, 待派发核查
    CHECKING = "checking"  # 核查中
    CHECKED = "checked"  # 核查通过, 待结案
    SELF_HANDLED = "self_handled"  # 自处置待审核
    VOID_REQUESTED = "void_requested"  # 作废待审批
    CLOSED = "closed"  # 已结案
    REJECTED = "rejected"  # 不予受理
    NOT_FILED = "not_filed"  # 不予立案
    VOIDED = "voided"  # 已作废

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STAGES

    @property
    def public_status(self) -> str:
        """Open311 status: only ``open`` or ``closed``."""
        return "closed" if self in TERMINAL_STAGES else "open"


TERMINAL_STAGES = frozenset({Stage.CLOSED, Stage.REJECTED, Stage.NOT_FILED, Stage.VOIDED})
#: Stages in which the department's handling clock (处置计时) runs.
HANDLING_STAGES = frozenset(
    {Stage.DISPATCHED, Stage.RETURN_REQUESTED, Stage.EXTENSION_REQUESTED, Stage.SUSPENSION_REQUESTED}
)


class Action(Labelled):
    """Everything a person or the system can do to a case. Each produces exactly one event."""

    REPORT = "report"  # 上报 / 登记
    ACCEPT = "accept"  # 受理
    REJECT = "reject"  # 不予受理
    VERIFY = "verify"  # 核实
    FILE = "file"  # 立案
    NOT_FILE = "not_file"  # 不予立案
    DISPATCH = "dispatch"  # 派遣
    REQUEST_RETURN = "request_return"  # 申请回退
    APPROVE_RETURN = "approve_return"  # 回退审批通过
    DENY_RETURN = "deny_return"  # 回退审批不通过
    REQUEST_EXTENSION = "request_extension"  # 申请延期
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    REQUEST_SUSPENSION = "request_suspension"  # 申请挂账
    APPROVE_SUSPENSION = "approve_suspension"
    DENY_SUSPENSION = "deny_suspension"
    RESUME = "resume"  # 挂账恢复
    HANDLE = "handle"  # 处置反馈
    SEND_CHECK = "send_check"  # 派发核查
    CHECK = "check"  # 核查
    CLOSE = "close"  # 结案
    REQUEST_VOID = "request_void"  # 申请作废
    APPROVE_VOID = "approve_void"
    DENY_VOID = "deny_void"
    VOID = "void"  # 作废 (shift leader, directly)
    APPROVE_SELF_HANDLING = "approve_self_handling"  # 自处理审核通过
    REJECT_SELF_HANDLING = "reject_self_handling"  # 自处理无效
    REOPEN = "reopen"  # 重新开启 (a false closure)
    COMMENT = "comment"  # 备注
    URGE = "urge"  # 督办
    LINK_DUPLICATE = "link_duplicate"  # 关联重复上报: another report of the same problem joins this case
    UNLINK_DUPLICATE = "unlink_duplicate"  # 取消关联: a wrong merge is split off again
    SPLIT = "split"  # 拆分: a report wrongly merged as a duplicate becomes a case of its own again
    FLAG_RECURRENCE = "flag_recurrence"  # 复发: the problem came back after this case was closed
    LOCATE = "locate"  # 定位: a case without a position gets one (e.g. an imported record, 待定位)
    FEEDBACK = "feedback"  # 回访评价: the reporter rates a closed case (满意 / 基本满意 / 不满意)
    CONFIRM_CLOSURE = "confirm_closure"  # 维持结案: a 不满意 rating reviewed, the closure stands


class Rating(Labelled):
    """A reporter's satisfaction with a closed case (回访满意度)."""

    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class Role(Labelled):
    INSPECTOR = "inspector"  # 监督员
    OPERATOR = "operator"  # 受理员
    SHIFT_LEADER = "shift_leader"  # 值班长
    DISPATCHER = "dispatcher"  # 派遣员
    DEPARTMENT = "department"  # 专业部门处置人员
    LEADER = "leader"  # 领导 / 指挥长
    CITIZEN = "citizen"  # 公众
    SYSTEM = "system"  # 系统 (simulator, integrations, automatic triage)
    ADMIN = "admin"  # 系统管理员


class Channel(Labelled):
    """Where a report came from (信息来源)."""

    INSPECTOR = "inspector"  # 监督员上报
    CITIZEN = "citizen"  # 公众举报 (app, WeChat, web)
    HOTLINE = "hotline"  # 12319 / 12345 热线
    OPEN311 = "open311"  # another system over Open311
    VIDEO = "video"  # 视频监控
    ASSIGNED = "assigned"  # 上级交办
    MEDIA = "media"  # 媒体曝光
    PATROL = "patrol"  # 巡查 (automatic, e.g. unlit street lights)
    IMPORT = "import"  # 历史导入


class Urgency(Labelled):
    NORMAL = "normal"  # 一般
    URGENT = "urgent"  # 紧急


class ClosureReason(Labelled):
    """Why a case ended. Only FIXED and SELF_FIXED mean the problem was solved."""

    FIXED = "fixed"  # 已处置
    SELF_FIXED = "self_fixed"  # 监督员自处置
    DUPLICATE = "duplicate"  # 重复
    MISFILED = "misfiled"  # 错误立案 / 误报
    NOT_CITY_BUSINESS = "not_city_business"  # 非城管职责
    INVALID = "invalid"  # 无效 / 核实不属实
    NOT_FILED = "not_filed"  # 不符合立案条件

    @property
    def is_fixed(self) -> bool:
        return self in (ClosureReason.FIXED, ClosureReason.SELF_FIXED)


class Step(Labelled):
    """A timed step of the loop, each with its own limit (环节时限)."""

    ACCEPT = "accept"
    VERIFY = "verify"
    FILE = "file"
    DISPATCH = "dispatch"
    HANDLE = "handle"
    CHECK_DISPATCH = "check_dispatch"
    CHECK = "check"
    CLOSE = "close"
    APPROVE = "approve"
