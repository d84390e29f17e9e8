"""layers.py catches what it is for: a module circle, a crate reaching up a layer, I/O in the
domain's dependency tree."""

import tempfile
import unittest
from pathlib import Path

import layers


def package(name, deps, folder="shared"):
    return {
        "id": f"{name}-id",
        "name": name,
        "manifest_path": f"/repo/{folder}/{name}/Cargo.toml",
        "dependencies": [{"name": d, "kind": None} for d in deps],
    }


def metadata(*packages, extra=()):
    every = list(packages) + list(extra)
    return {
        "packages": every,
        "workspace_members": [p["id"] for p in packages],
        "resolve": {"nodes": []},
    }


class ModuleCycles(unittest.TestCase):
    def crate(self, files):
        root = tempfile.TemporaryDirectory()
        self.addCleanup(root.cleanup)
        src = Path(root.name)
        for name, text in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        return src

    def test_a_circle_through_three_modules_is_one_group(self):
        src = self.crate(
            {
                "lib.rs": "pub mod order; pub mod pricing; pub mod promotions; pub mod money;",
                "order.rs": "use crate::promotions::CouponId;\nuse crate::money::Fen;",
                "promotions.rs": "use crate::pricing::{Coupon, Scope};",
                "pricing.rs": "use crate::{money::Fen, order::Discount};",
                "money.rs": "pub struct Fen;",
            }
        )

        groups = layers.cycles(layers.module_graph(src))

        self.assertEqual(groups, [["order", "promotions", "pricing", "order"]])

    def test_a_chain_downwards_comments_and_submodules_make_no_circle(self):
        src = self.crate(
            {
                "lib.rs": "pub mod ids; pub mod order; pub mod store;",
                "ids.rs": "// see crate::order::Order, which uses these\npub struct OrderId;",
                "order.rs": "use crate::ids::OrderId;",
                "store/mod.rs": "mod orders;",
                "store/orders.rs": "use crate::order::Order;\nuse super::Table;\nuse crate::store::x;",
            }
        )

        graph = layers.module_graph(src)

        self.assertEqual(layers.cycles(graph), [])
        self.assertEqual(graph["store"], {"order"})
        self.assertEqual(graph["ids"], set())


class CrateLayers(unittest.TestCase):
    def test_a_store_taking_the_edge_is_named(self):
        meta = metadata(
            package("domain", []),
            package("store", ["domain", "edge"]),
            package("edge", ["domain", "store"]),
        )

        self.assertEqual(
            layers.crate_breaches(meta), ["store depends on edge, which is not below it"]
        )

    def test_functions_may_use_any_layer_and_a_new_shared_crate_needs_a_place(self):
        meta = metadata(
            package("domain", []),
            package("checkout", ["domain", "app", "edge"], folder="functions"),
            package("cart", ["domain"]),
        )

        breaches = layers.crate_breaches(meta)

        self.assertEqual(len(breaches), 1)
        self.assertIn("cart is in no layer", breaches[0])

    def test_the_domain_may_not_reach_tokio_even_through_another_crate(self):
        meta = metadata(package("domain", ["helper"]))
        meta["packages"] += [
            {"id": "helper-id", "name": "helper"},
            {"id": "tokio-id", "name": "tokio"},
            {"id": "proptest-id", "name": "proptest"},
        ]
        normal = [{"kind": None}]
        meta["resolve"]["nodes"] = [
            {
                "id": "domain-id",
                "deps": [
                    {"pkg": "helper-id", "dep_kinds": normal},
                    {"pkg": "proptest-id", "dep_kinds": [{"kind": "dev"}]},
                ],
            },
            {"id": "helper-id", "deps": [{"pkg": "tokio-id", "dep_kinds": normal}]},
            {"id": "tokio-id", "deps": []},
            {"id": "proptest-id", "deps": [{"pkg": "tokio-id", "dep_kinds": normal}]},
        ]

        self.assertEqual(layers.domain_breaches(meta), ["domain depends on tokio"])


if __name__ == "__main__":
    unittest.main()
