"""The closed sets of SPEC §3, in one place for models, schemas and rules.

Each maps the contract value to its Chinese name. Order matters where it says so.
"""

USER_ROLES = {
    "admin": "管理员",
    "bureau": "卫健局",
    "hr": "人社局",
    "director": "机构负责人",
    "inspector": "检查员",
}

STAFF_ROLES = {
    "director": "托育机构负责人",
    "caregiver": "保育人员",
    "care_assistant": "保育员",
    "nurse": "保健人员",
    "security_guard": "保安员",
    "cook": "炊事人员",
    "other": "其他",
}

# Lowest first; senior_high and secondary_vocational share a rank.
EDUCATION_LEVELS = {
    "junior_middle": "初中及以下",
    "senior_high": "高中",
    "secondary_vocational": "中专/职高/技校",
    "junior_college": "大专",
    "bachelor": "本科",
    "master": "硕士",
    "doctor": "博士",
}
EDUCATION_RANK = {
    "junior_middle": 0,
    "senior_high": 1,
    "secondary_vocational": 1,
    "junior_college": 2,
    "bachelor": 3,
    "master": 4,
    "doctor": 5,
}

EXPERIENCE_FIELDS = {
    "childcare": "托育/保育",
    "education": "教育",
    "health": "卫生",
    "other": "其他",
}

CERTIFICATE_KINDS = {
    "childcare_worker": "保育师",
    "infant_nurturer": "育婴员",
    "infant_development_guide": "婴幼儿发展引导员",
    "kindergarten_teacher": "幼儿园教师资格证",
    "caregiver_training": "保育人员岗位培训合格证",
    "director_training": "托育机构负责人岗位培训合格证",
    "health_care_training": "卫生保健专业知识培训合格证",
    "nurse_license": "护士执业证书",
    "physician_license": "医师执业证书",
    "security_guard": "保安员证",
    "health_certificate": "健康合格证",
}

CERTIFICATE_STATUSES = {"valid": "有效", "revoked": "已撤销"}

CLASS_TYPES = {
    "infant": "乳儿班",
    "toddler": "托小班",
    "preschool": "托大班",
    "mixed": "混龄班",
}

BAN_CATEGORIES = {
    "sexual_assault": "性侵害",
    "abuse": "虐待",
    "trafficking": "拐卖",
    "violent_injury": "暴力伤害",
    "abandonment": "遗弃",
    "managerial_liability": "直接管理责任",
    "other": "其他",
}

BAN_STATUSES = {"active": "有效", "revoked": "已撤销"}

CHECK_RESULTS = {"clear": "无禁入记录", "barred": "禁入"}

IMPORT_STATUSES = {
    "running": "导入中",
    # A preview or a refused file whose errors are being written.
    "recording": "记录中",
    "accepted": "已接受",
    "partial": "部分接受",
    "rejected": "已拒绝",
    # Its writing was cut off (the process stopped) and what it had written was removed.
    "interrupted": "导入中断，未写入",
}

ALERT_KINDS = {
    "ban": "在岗人员被禁止从业",
    "certificate_revoked": "在岗人员证书被撤销",
    "certificate_expiring": "在岗人员证书即将到期",
    "lookup_misses": "用户按证件号码查询多次未找到人员",
}
