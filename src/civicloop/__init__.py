"""civicloop: a command center for digital urban management (数字化城市管理).

The closed loop: 收集 collect → 立案 file → 派遣 dispatch → 处置 handle → 反馈 feedback →
核查结案 verify & close → 综合评价 evaluate.
"""

__version__ = "0.1.0"
