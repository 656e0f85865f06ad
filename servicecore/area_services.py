"""The area services and rules a `Container` builds from Settings: a new one on each use, all on
the one Application."""

from __future__ import annotations

from domain.aftercare import Aftercare
from domain.application import ServiceCore
from domain.appointments import Appointments
from domain.customers import Customers
from domain.dispatch import Dispatch
from domain.grievances import GrievanceTerms
from domain.inventory import Inventory
from domain.inventory_desk import Thresholds
from domain.loyalty import LoyaltyRules
from domain.settlements import Policy, Settlements
from domain.technicians import Technicians
from domain.vehicles import Vehicles
from domain.warranty_coverage import WarrantyTerms
from domain.work_orders import WorkOrders
from projections.customer_queries import TagRules
from projections.repair_records import ShopNames
from projections.sanbao import SanbaoRules
from servicecore.settings import Settings


class AreaServices:
    """The area services and rules of `Container` (mixed into it, which gives `settings` and
    `app`)."""

    settings: Settings
    app: ServiceCore

    @property
    def work_orders(self) -> WorkOrders:
        return WorkOrders(self.app, self.settings.store_timezone, self.settings.stores,
                          self.warranty_terms)

    @property
    def warranty_terms(self) -> WarrantyTerms:
        return WarrantyTerms(self.settings.warranty_years, self.settings.warranty_km)

    @property
    def customers(self) -> Customers:
        s = self.settings
        return Customers(self.app, s.store_timezone, LoyaltyRules(
            rate=s.points_rate, expiry_months=s.points_expiry_months, point_value=s.point_value),
                         stores=s.stores)

    @property
    def inventory(self) -> Inventory:
        s = self.settings
        return Inventory(self.app, s.store_timezone, Thresholds(
            scrap_qty=s.scrap_approval_qty, scrap_value=s.scrap_approval_value,
            stocktake_value=s.stocktake_approval_value), stores=s.stores)

    @property
    def settlements(self) -> Settlements:
        return Settlements(self.app, self.settings.store_timezone,
                           Policy(discount_approval_rate=self.settings.discount_approval_rate,
                                  deposit_ceiling=self.settings.deposit_ceiling,
                                  loyalty=LoyaltyRules(
                                      rate=self.settings.points_rate,
                                      expiry_months=self.settings.points_expiry_months,
                                      point_value=self.settings.point_value)),
                           stores=self.settings.stores)

    @property
    def aftercare(self) -> Aftercare:
        return Aftercare(self.app, self.settings.store_timezone, self.settings.follow_up_days,
                         self.grievance_terms)

    @property
    def grievance_terms(self) -> GrievanceTerms:
        return GrievanceTerms(self.settings.grievance_contact_hours,
                              self.settings.grievance_close_days,
                              self.settings.grievance_serious_close_days)

    @property
    def vehicles(self) -> Vehicles:
        return Vehicles(self.app, self.settings.store_timezone, self.settings.stores)

    @property
    def technicians(self) -> Technicians:
        return Technicians(self.app, self.settings.stores, self.settings.store_timezone)

    @property
    def appointments(self) -> Appointments:
        return Appointments(self.app, self.settings.store_timezone, self.settings.stores)

    @property
    def dispatch(self) -> Dispatch:
        return Dispatch(self.app, self.settings.store_timezone)

    @property
    def tag_rules(self) -> TagRules:
        s = self.settings
        return TagRules(vip_spend=s.vip_spend_12m, frequent_visits=s.frequent_visits_12m,
                        fleet_vehicles=s.fleet_vehicles)

    @property
    def shop_names(self) -> ShopNames:
        return ShopNames(self.settings.shop_names, self.settings.shop_name)

    @property
    def sanbao_rules(self) -> SanbaoRules:
        s = self.settings
        return SanbaoRules(**{name: getattr(s, "sanbao_" + name)
                              for name in SanbaoRules.__dataclass_fields__})
