//! 示例县（sample county）：the roster and the assessor nodes of the demo.
//!
//! Every name is marked 示例数据 (sample data): the three units the seed
//! scheme names (龙王沟乡村振兴示范区, 观音堂林业生态旅游示范区, 铁路地区办事处)
//! plus invented townships, organs, departments, enterprises, hospitals and
//! villages, one or more per category of the 2022 rule pack.

/// The mark every sample name carries.
pub const SAMPLE: &str = "（示例数据）";

/// One unit of the sample roster.
#[derive(Debug, Clone, Copy)]
pub struct Unit {
    pub id: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub parent: &'static str,
    pub supervising: &'static str,
    /// 依法治县办 / 国资局 / 卫健委, or the id of the assessing unit.
    pub assessor: &'static str,
}

const fn u(id: &'static str, name: &'static str, category: &'static str) -> Unit {
    Unit {
        id,
        name,
        category,
        parent: "",
        supervising: "",
        assessor: "依法治县办",
    }
}

/// The township node that is offline across the 2023 third-quarter round
/// and reports it late, at the fourth-quarter round.
pub const LATE_NODE: &str = "township-zhaozhuang";

/// The unit left unreported (not assessed) and excused at approval.
pub const UNREPORTED: &str = "zrzyj";
/// Why it is excused.
pub const UNREPORTED_REASON: &str =
    "示例：机构改革期间职能划转，本年度未报送考核材料，经县委依法治县办研究免于考核";

/// The sample roster of 2022.
pub fn units() -> Vec<Unit> {
    let stationed = |id, name, sup| Unit {
        supervising: sup,
        ..u(id, name, "stationed_unit")
    };
    let enterprise = |id, name| Unit {
        assessor: "国资局",
        ..u(id, name, "enterprise")
    };
    let hospital = |id, name| Unit {
        assessor: "卫健委",
        supervising: "宝丰县卫生健康委员会",
        ..u(id, name, "hospital")
    };
    let village = |township, id, name| Unit {
        parent: township,
        assessor: township,
        ..u(id, name, "village")
    };
    vec![
        // 1 乡镇（含示范区、地区办事处）
        u("xiaoqi", "肖旗乡", "township"),
        u("zhaozhuang", "赵庄镇", "township"),
        u("yangzhuang", "杨庄镇", "township"),
        u("longwanggou", "龙王沟乡村振兴示范区", "township"),
        u("guanyintang", "观音堂林业生态旅游示范区", "township"),
        u("tielu", "铁路地区办事处", "township"),
        // 2 党的机关
        u("jiwei", "县纪委监委机关", "party_organ"),
        u("zzb", "县委组织部", "party_organ"),
        u("xcb", "县委宣传部", "party_organ"),
        // 3 人大、政协
        u("renda", "县人大常委会办公室", "congress_cppcc"),
        u("zhengxie", "县政协办公室", "congress_cppcc"),
        // 4 政府部门
        u("sfj", "县司法局", "government_department"),
        u("gaj", "县公安局", "government_department"),
        u("czj", "县财政局", "government_department"),
        u("scjgj", "县市场监督管理局", "government_department"),
        u("wjw", "县卫生健康委员会", "government_department"),
        u("gzj", "县国有资产监督管理局", "government_department"),
        u("zrzyj", "县自然资源局", "government_department"),
        // 5 法院、检察院
        u("fayuan", "县人民法院", "court_procuratorate"),
        u("jianchayuan", "县人民检察院", "court_procuratorate"),
        // 6 群团机关
        u("zgh", "县总工会", "mass_organisation"),
        u("tuanwei", "共青团宝丰县委", "mass_organisation"),
        u("fulian", "县妇女联合会", "mass_organisation"),
        // 7 驻宝单位
        stationed("swj", "税务局", "国家税务总局平顶山市税务局"),
        stationed("qxj", "县气象局", "平顶山市气象局"),
        stationed("yczmj", "县烟草专卖局", "平顶山市烟草专卖局"),
        // 8 县管企业（国资局考核）
        enterprise("tzjt", "县投资集团有限公司"),
        enterprise("ctgs", "县城市建设投资有限公司"),
        enterprise("zlsgs", "县自来水有限公司"),
        // 9 县属医院（卫健委考核）
        hospital("rmyy", "县人民医院"),
        hospital("zyy", "县中医院"),
        hospital("fybjy", "县妇幼保健院"),
        // 10 村（社区）（乡镇考核）
        village("xiaoqi", "xiaoqi-v1", "肖旗乡肖旗村"),
        village("xiaoqi", "xiaoqi-v2", "肖旗乡王庄村"),
        village("xiaoqi", "xiaoqi-v3", "肖旗乡李庄村"),
        village("xiaoqi", "xiaoqi-v4", "肖旗乡张庄社区"),
        village("zhaozhuang", "zhaozhuang-v1", "赵庄镇赵庄村"),
        village("zhaozhuang", "zhaozhuang-v2", "赵庄镇大刘庄村"),
        village("zhaozhuang", "zhaozhuang-v3", "赵庄镇东街社区"),
    ]
}

/// The roster CSV `kaohe hub units import` reads; every name marked 示例数据,
/// every unit with a placeholder principal (主要负责人, named in a
/// commendation).
pub fn roster_csv() -> String {
    let mut csv = String::from("单位编号,单位名称,类别,上级单位,主管部门,考核主体,主要负责人\n");
    for (i, u) in units().into_iter().enumerate() {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            u.id,
            name_of(u.id),
            u.category,
            u.parent,
            u.supervising,
            u.assessor,
            principal(i)
        ));
    }
    csv
}

/// A placeholder principal, `王某某` …: plainly not a real person.
fn principal(i: usize) -> String {
    const SURNAMES: [char; 10] = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴'];
    format!("{}某某", SURNAMES[i % SURNAMES.len()])
}

/// Every method of the 2022 pack.
pub const ALL_METHODS: &str =
    "daily,supervision,file_review,online_check,field_inspection,satisfaction,bonus_penalty";

/// What an assessor node is delegated.
#[derive(Debug, Clone)]
pub enum Delegation {
    Categories(&'static str),
    Units(Vec<&'static str>),
}

/// One assessor node of the demo.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Directory name under `DIR/nodes/`.
    pub dir: &'static str,
    pub name: &'static str,
    pub assessor: &'static str,
    /// The unit a township node assesses for, as the roster's 考核主体
    /// column names it.
    pub assessor_unit: Option<&'static str>,
    pub delegation: Delegation,
}

/// The five nodes: county office (categories 1–7), SASAC, the health
/// commission and two townships, each assessing its villages and communities.
pub fn nodes() -> Vec<NodeSpec> {
    let villages = |township: &str| {
        units()
            .into_iter()
            .filter(|u| u.category == "village" && u.parent == township)
            .map(|u| u.id)
            .collect()
    };
    vec![
        NodeSpec {
            dir: "county-office",
            name: "宝丰县委依法治县办（示例数据）",
            assessor: "county_office",
            assessor_unit: None,
            delegation: Delegation::Categories(
                "township,party_organ,congress_cppcc,government_department,court_procuratorate,mass_organisation,stationed_unit",
            ),
        },
        NodeSpec {
            dir: "sasac",
            name: "宝丰县国资局（示例数据）",
            assessor: "sasac",
            assessor_unit: None,
            delegation: Delegation::Categories("enterprise"),
        },
        NodeSpec {
            dir: "health-commission",
            name: "宝丰县卫健委（示例数据）",
            assessor: "health_commission",
            assessor_unit: None,
            delegation: Delegation::Categories("hospital"),
        },
        NodeSpec {
            dir: "township-xiaoqi",
            name: "宝丰县肖旗乡（示例数据）",
            assessor: "township",
            assessor_unit: Some("xiaoqi"),
            delegation: Delegation::Units(villages("xiaoqi")),
        },
        NodeSpec {
            dir: LATE_NODE,
            name: "宝丰县赵庄镇（示例数据）",
            assessor: "township",
            assessor_unit: Some("zhaozhuang"),
            delegation: Delegation::Units(villages("zhaozhuang")),
        },
    ]
}

/// The units of the roster whose 考核主体 is node `n`'s assessor.
pub fn assessed_by(n: &NodeSpec) -> Vec<Unit> {
    let assessor = match n.assessor {
        "county_office" => "依法治县办",
        "sasac" => "国资局",
        "health_commission" => "卫健委",
        _ => n.assessor_unit.unwrap_or_default(),
    };
    units()
        .into_iter()
        .filter(|u| u.assessor == assessor)
        .collect()
}

/// The name of unit `id` in the report (without the county's prefix the
/// roster adds), or the id when the roster has no such unit.
pub fn name_of(id: &str) -> String {
    units().into_iter().find(|u| u.id == id).map_or_else(
        || id.to_owned(),
        |u| {
            let county = if u.name.starts_with('县') {
                "宝丰"
            } else {
                "宝丰县"
            };
            format!("{county}{}{SAMPLE}", u.name)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_is_assessed_by_exactly_one_node() {
        let mut counted: Vec<&str> = nodes().iter().flat_map(assessed_by).map(|u| u.id).collect();
        counted.sort();
        let mut all: Vec<&str> = units().iter().map(|u| u.id).collect();
        all.sort();
        assert_eq!(counted, all);
        assert_eq!(name_of("xiaoqi"), "宝丰县肖旗乡（示例数据）");
        assert_eq!(name_of("sfj"), "宝丰县司法局（示例数据）");
    }

    #[test]
    fn ids_are_unique_and_parents_and_assessors_exist() {
        let all = units();
        let ids: std::collections::BTreeSet<_> = all.iter().map(|u| u.id).collect();
        assert_eq!(ids.len(), all.len());
        for u in &all {
            assert!(u.parent.is_empty() || ids.contains(u.parent), "{u:?}");
            assert!(
                ["依法治县办", "国资局", "卫健委"].contains(&u.assessor)
                    || ids.contains(u.assessor),
                "{u:?}"
            );
        }
        assert!(ids.contains(UNREPORTED));
        for seed in [
            "龙王沟乡村振兴示范区",
            "观音堂林业生态旅游示范区",
            "铁路地区办事处",
        ] {
            assert!(roster_csv().contains(seed), "{seed}");
        }
        assert!(roster_csv().lines().skip(1).all(|l| l.contains(SAMPLE)));
    }
}
