//! The demo shop `make dev` starts with: a tea-and-groceries store with categories, products,
//! SKUs, stock and Chinese titles. Writing it again refreshes texts and prices and keeps the
//! stock and sales orders have changed.

use domain::catalog::{Category, Product, Sku};
use domain::ids::{CategoryId, ProductId, SkuId};
use domain::money::Fen;
use std::collections::BTreeMap;
use store::StoreError;
use store::catalog::CatalogStore;

/// (id, parent, name, sort)
const CATEGORIES: &[(&str, Option<&str>, &str, u32)] = &[
    ("tea", None, "茶叶", 1),
    ("green-tea", Some("tea"), "绿茶", 1),
    ("black-tea", Some("tea"), "红茶", 2),
    ("puer", Some("tea"), "普洱", 3),
    ("snacks", None, "零食坚果", 2),
    ("fruit", None, "新鲜水果", 3),
    ("home", None, "家居日用", 4),
];

struct DemoProduct {
    id: &'static str,
    category: &'static str,
    title: &'static str,
    subtitle: &'static str,
    sales: u64,
    on_shelf: bool,
    /// (spec name, spec value, price in fen, stock)
    skus: &'static [(&'static str, &'static str, u64, u64)],
}

const PRODUCTS: &[DemoProduct] = &[
    DemoProduct {
        id: "longjing",
        category: "green-tea",
        title: "西湖龙井 明前特级绿茶",
        subtitle: "杭州核心产区 手工炒制",
        sales: 1520,
        on_shelf: true,
        skus: &[("规格", "250克", 12800, 120), ("规格", "500克", 24000, 60)],
    },
    DemoProduct {
        id: "biluochun",
        category: "green-tea",
        title: "洞庭碧螺春 2026新茶",
        subtitle: "花果香浓 嫩芽卷曲",
        sales: 860,
        on_shelf: true,
        skus: &[("规格", "100克", 6800, 200), ("规格", "200克", 12800, 80)],
    },
    DemoProduct {
        id: "maofeng",
        category: "green-tea",
        title: "黄山毛峰 高山云雾绿茶",
        subtitle: "兰香清雅",
        sales: 430,
        on_shelf: true,
        skus: &[("规格", "150克", 5900, 150)],
    },
    DemoProduct {
        id: "dianhong",
        category: "black-tea",
        title: "云南滇红 金芽红茶",
        subtitle: "蜜香甜润 一芽一叶",
        sales: 990,
        on_shelf: true,
        skus: &[("规格", "200克", 8800, 90), ("规格", "400克", 16800, 40)],
    },
    DemoProduct {
        id: "zhengshan",
        category: "black-tea",
        title: "武夷山正山小种 桂圆香红茶",
        subtitle: "松烟香 耐冲泡",
        sales: 640,
        on_shelf: true,
        skus: &[("规格", "250克", 9800, 70)],
    },
    DemoProduct {
        id: "puer-cake",
        category: "puer",
        title: "云南普洱熟茶 357克茶饼",
        subtitle: "勐海原料 陈香醇厚",
        sales: 1210,
        on_shelf: true,
        skus: &[("年份", "2019年", 19800, 35), ("年份", "2022年", 12800, 80)],
    },
    DemoProduct {
        id: "puer-raw",
        category: "puer",
        title: "冰岛古树普洱生茶",
        subtitle: "回甘持久 限量",
        sales: 210,
        on_shelf: true,
        skus: &[("规格", "200克", 58000, 8)],
    },
    DemoProduct {
        id: "tea-gift",
        category: "tea",
        title: "中秋茶叶礼盒 龙井红茶双拼",
        subtitle: "送长辈 企业团购",
        sales: 380,
        on_shelf: true,
        skus: &[("款式", "经典款", 26800, 50), ("款式", "尊享款", 46800, 20)],
    },
    DemoProduct {
        id: "walnut",
        category: "snacks",
        title: "新疆阿克苏纸皮核桃 1kg",
        subtitle: "手剥薄皮 当季新货",
        sales: 2300,
        on_shelf: true,
        skus: &[("规格", "1kg", 3990, 500), ("规格", "2kg", 7580, 200)],
    },
    DemoProduct {
        id: "cashew",
        category: "snacks",
        title: "越南盐焗腰果",
        subtitle: "颗颗饱满",
        sales: 1750,
        on_shelf: true,
        skus: &[("规格", "500克", 4590, 300)],
    },
    DemoProduct {
        id: "daily-nuts",
        category: "snacks",
        title: "每日坚果 混合果仁 30包",
        subtitle: "营养早餐 独立小包",
        sales: 3100,
        on_shelf: true,
        skus: &[("规格", "30包", 8990, 400), ("规格", "60包", 16990, 150)],
    },
    DemoProduct {
        id: "beef-jerky",
        category: "snacks",
        title: "内蒙古风干牛肉干",
        subtitle: "手撕 原味 香辣",
        sales: 1420,
        on_shelf: true,
        skus: &[("口味", "原味", 6900, 180), ("口味", "香辣", 6900, 160)],
    },
    DemoProduct {
        id: "mooncake",
        category: "snacks",
        title: "广式蛋黄莲蓉月饼礼盒",
        subtitle: "节日限定 已下架",
        sales: 900,
        on_shelf: false,
        skus: &[("规格", "8个装", 15800, 0)],
    },
    DemoProduct {
        id: "kiwi",
        category: "fruit",
        title: "陕西周至红心猕猴桃",
        subtitle: "现摘现发 酸甜多汁",
        sales: 1680,
        on_shelf: true,
        skus: &[("规格", "12个装", 3990, 260), ("规格", "24个装", 6990, 120)],
    },
    DemoProduct {
        id: "navel-orange",
        category: "fruit",
        title: "赣南脐橙 5斤装",
        subtitle: "果园直发 新鲜采摘",
        sales: 2650,
        on_shelf: true,
        skus: &[("规格", "5斤", 2990, 600), ("规格", "10斤", 5490, 300)],
    },
    DemoProduct {
        id: "mango",
        category: "fruit",
        title: "海南贵妃芒果",
        subtitle: "香甜软糯",
        sales: 980,
        on_shelf: true,
        skus: &[("规格", "3斤", 3590, 140)],
    },
    DemoProduct {
        id: "cherry",
        category: "fruit",
        title: "智利车厘子 JJ级 2斤礼盒",
        subtitle: "冷链直达",
        sales: 760,
        on_shelf: true,
        skus: &[("规格", "2斤", 15900, 6)],
    },
    DemoProduct {
        id: "lychee",
        category: "fruit",
        title: "广东妃子笑荔枝",
        subtitle: "应季鲜果 今日售罄",
        sales: 1320,
        on_shelf: true,
        skus: &[("规格", "3斤", 6990, 0)],
    },
    DemoProduct {
        id: "towel",
        category: "home",
        title: "新疆长绒棉毛巾 三条装",
        subtitle: "柔软吸水 A类婴幼儿标准",
        sales: 1890,
        on_shelf: true,
        skus: &[("颜色", "米白", 5900, 220), ("颜色", "灰蓝", 5900, 210)],
    },
    DemoProduct {
        id: "teacup",
        category: "home",
        title: "景德镇手绘陶瓷茶杯",
        subtitle: "青花 主人杯",
        sales: 520,
        on_shelf: true,
        skus: &[("款式", "青花", 8800, 60), ("款式", "粉彩", 9800, 45)],
    },
    DemoProduct {
        id: "latex-pillow",
        category: "home",
        title: "泰国天然乳胶枕",
        subtitle: "护颈 透气",
        sales: 1150,
        on_shelf: true,
        skus: &[("规格", "标准款", 19900, 90), ("规格", "儿童款", 12900, 70)],
    },
    DemoProduct {
        id: "chopsticks",
        category: "home",
        title: "天然竹筷子 10双装",
        subtitle: "无漆无蜡 家用",
        sales: 2980,
        on_shelf: true,
        skus: &[("规格", "10双", 1990, 800)],
    },
];

fn id<T>(parse: impl Fn(&str) -> Result<T, domain::ids::InvalidId>, raw: &str) -> T {
    parse(raw).unwrap_or_else(|e| panic!("demo data id {raw:?}: {e}"))
}

pub fn demo_categories() -> Vec<Category> {
    CATEGORIES
        .iter()
        .map(|(cid, parent, name, sort)| Category {
            id: id(CategoryId::parse, cid),
            name: (*name).to_string(),
            parent_id: parent.map(|p| id(CategoryId::parse, p)),
            sort: *sort,
            icon: Some(format!("https://picsum.photos/seed/cat-{cid}/120/120")),
        })
        .collect()
}

pub fn demo_products() -> Vec<(Product, Vec<Sku>)> {
    PRODUCTS
        .iter()
        .map(|p| {
            let product_id = id(ProductId::parse, p.id);
            let product = Product {
                id: product_id.clone(),
                title: p.title.to_string(),
                subtitle: p.subtitle.to_string(),
                category_id: id(CategoryId::parse, p.category),
                images: (1..=3)
                    .map(|n| format!("https://picsum.photos/seed/{}-{n}/800/800", p.id))
                    .collect(),
                description: format!("{}。{}。", p.title, p.subtitle),
                on_shelf: p.on_shelf,
                sales: p.sales,
            };
            let skus = p
                .skus
                .iter()
                .enumerate()
                .map(|(i, (spec, value, price, stock))| Sku {
                    id: id(SkuId::parse, &format!("{}-{}", p.id, i + 1)),
                    product_id: product_id.clone(),
                    specs: BTreeMap::from([(spec.to_string(), value.to_string())]),
                    price: Fen::new(*price),
                    original_price: Some(Fen::new(price + price / 5)),
                    stock: *stock,
                    member_prices: BTreeMap::new(),
                    flash_sale: None,
                    group_buy: None,
                    bargain: None,
                    low_stock_at: None,
                })
                .collect();
            (product, skus)
        })
        .collect()
}

/// Writes the demo shop. Returns (categories, products) written.
pub async fn seed(catalog: &CatalogStore) -> Result<(usize, usize), StoreError> {
    catalog
        .put_shipping_rule(&domain::pricing::ShippingRule::default())
        .await?;
    let categories = demo_categories();
    for c in &categories {
        catalog.put_category(c).await?;
    }
    let products = demo_products();
    for (product, skus) in &products {
        catalog.put_product(product, skus).await?;
    }
    Ok((categories.len(), products.len()))
}

/// The demo shop's promotions, set up the way a merchant would: with `shopctl` commands.
pub const DEMO_PROMOTIONS: &[&[&str]] = &[
    &[
        "points",
        "policy",
        "--points-per-yuan",
        "100",
        "--max-share",
        "50",
        "--earn-per-yuan",
        "1",
    ],
    &["reduction", "set", "shop-wide", "--tiers", "199-20,299-40"],
    &[
        "coupon",
        "create",
        "new-user",
        "--title",
        "新人立减券",
        "--off",
        "20",
        "--min-spend",
        "99",
        "--valid-days",
        "7",
        "--total",
        "100000",
        "--per-user",
        "1",
    ],
    &[
        "coupon",
        "create",
        "green-tea-10",
        "--title",
        "绿茶九折券",
        "--percent",
        "10",
        "--cap",
        "30",
        "--category",
        "green-tea",
        "--valid-days",
        "30",
        "--total",
        "5000",
        "--per-user",
        "2",
    ],
    &[
        "flash-sale",
        "set",
        "biluochun-1",
        "--price",
        "49",
        "--quota",
        "50",
        "--per-user",
        "2",
        "--starts",
        "now",
        "--ends",
        "now+7d",
    ],
    &[
        "member-price",
        "set",
        "longjing-1",
        "--level",
        "gold",
        "--price",
        "118",
    ],
    &[
        "group-buy",
        "set",
        "dianhong-1",
        "--size",
        "3",
        "--price",
        "59",
        "--hours",
        "24",
    ],
    &[
        "bargain",
        "set",
        "zhengshan-1",
        "--floor",
        "9.9",
        "--helpers",
        "5",
        "--hours",
        "24",
    ],
    // A thank-you coupon only ever given as an invite reward: its claim window is already over.
    &[
        "coupon",
        "create",
        "invite-thanks",
        "--title",
        "邀请有礼券",
        "--off",
        "10",
        "--min-spend",
        "59",
        "--valid-days",
        "30",
        "--total",
        "100000",
        "--per-user",
        "1",
        "--claim-until",
        "now",
    ],
    &[
        "invite",
        "policy",
        "--points",
        "200",
        "--daily-cap",
        "20",
        "--coupon",
        "invite-thanks",
    ],
    &[
        "checkin",
        "policy",
        "--points",
        "5",
        "--streak-bonus",
        "1",
        "--streak-cap",
        "7",
    ],
    // The points tasks (积分任务), on for a year from the seeding.
    &[
        "task", "set", "check-in", "--starts", "now-1d", "--ends", "now+365d",
    ],
    &[
        "task",
        "set",
        "view-product",
        "--points",
        "5",
        "--daily-cap",
        "3",
        "--seconds",
        "15",
        "--starts",
        "now-1d",
        "--ends",
        "now+365d",
    ],
    &[
        "task",
        "set",
        "share-opened",
        "--points",
        "20",
        "--daily-cap",
        "3",
        "--starts",
        "now-1d",
        "--ends",
        "now+365d",
    ],
    &[
        "task",
        "set",
        "first-review",
        "--points",
        "50",
        "--starts",
        "now-1d",
        "--ends",
        "now+365d",
    ],
    &[
        "task",
        "set",
        "bind-phone",
        "--points",
        "30",
        "--starts",
        "now-1d",
        "--ends",
        "now+365d",
    ],
];

/// The demo shop's warehouses: Hangzhou for the east, Guangzhou for everywhere else.
pub const DEMO_WAREHOUSES: &[&[&str]] = &[
    &[
        "warehouse",
        "set",
        "hangzhou",
        "--name",
        "杭州仓",
        "--courier",
        "zhongtong",
        "--priority",
        "1",
        "--provinces",
        "浙江,江苏,上海,安徽",
        "--sender-name",
        "茶铺发货组",
        "--sender-phone",
        "13800000001",
        "--sender-address",
        "浙江省杭州市余杭区仓前街道仓储路1号",
    ],
    &[
        "warehouse",
        "set",
        "guangzhou",
        "--name",
        "广州仓",
        "--courier",
        "shunfeng",
        "--priority",
        "2",
        "--default",
        "yes",
        "--sender-name",
        "茶铺华南仓",
        "--sender-phone",
        "13800000002",
        "--sender-address",
        "广东省广州市白云区物流园2号",
    ],
];

/// Writes the demo warehouses through shopctl.
pub async fn warehouses(
    admin: &shopctl::Admin,
    now: i64,
) -> Result<Vec<String>, shopctl::CliError> {
    let mut said = Vec::with_capacity(DEMO_WAREHOUSES.len());
    for command in DEMO_WAREHOUSES {
        said.push(shopctl::run(admin, command, now).await?);
    }
    Ok(said)
}

/// Runs the demo promotions through shopctl; answers what each command said.
pub async fn promotions(
    admin: &shopctl::Admin,
    now: i64,
) -> Result<Vec<String>, shopctl::CliError> {
    let mut said = Vec::with_capacity(DEMO_PROMOTIONS.len());
    for command in DEMO_PROMOTIONS {
        said.push(shopctl::run(admin, command, now).await?);
    }
    Ok(said)
}
