"""What the checks and update cycles are called for a department reader (Chinese, English)."""

from __future__ import annotations

from jinshu.catalog import Contract

# What an expectation checks, in words a department reader knows (zh, en).
KIND_WORDS = {
    "not_null": ("必填项为空", "required value missing"),
    "format": ("格式不符", "wrong format"),
    "value_set": ("代码不在允许范围内", "code not in the allowed list"),
    "between": ("数值超出范围", "value out of range"),
    "unique": ("主键重复", "duplicate record key"),
    "row_count_change": ("记录数变化过大", "row count changed sharply"),
    "freshness": ("数据更新不及时", "data arrived late"),
    "mostly_present": ("缺失值过多", "too many missing values"),
    "plausible": ("取值不合理", "implausible value"),
}
CYCLE_WORDS = {"daily": "每日", "weekly": "每周", "monthly": "每月", "quarterly": "每季度",
               "yearly": "每年"}


def describe(expectation: str, contract: Contract | None) -> tuple[str, str]:
    """``("公民身份号码：必填项为空", "id_number: required value missing")``."""
    column, _, kind = expectation.rpartition(".")
    zh, en = KIND_WORDS.get(kind, ("自定义检查", "custom check"))
    if not column:
        return zh, en
    spec = contract.by_name.get(column) if contract else None
    title = spec.title if spec else ("主键" if column == "natural_key" else column)
    return f"{title}：{zh}", f"{column}: {en}"
