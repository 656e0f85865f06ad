"""The DuckDB table of online booking requests (线上预约, `domain/online_booking.py`; listed in
order in `analytics.schema`). Never the customer's personal data: no name, phone, VIN, plate
or note, nor a decline's or a cancellation's reason (free text)."""

from __future__ import annotations

from analytics.schema_columns import TS, Table, V, store

FACT_ONLINE_BOOKINGS = Table(
    "fact_online_bookings", "one row per online booking request (线上预约) from the WeChat mini "
    "program or the website: when it was made, for which slot, how it ended and whether it "
    "became a visit; never who asked, their car or their words", (
        ("booking_id", V, "the booking request (UUID)"),
        store("request"),
        ("requested_at", TS, "when the customer made the request"),
        ("channel", V, ("the booking channel that made it: the user id of its backend's "
                        "booking_channel token (e.g. wechat-mp for the WeChat mini program)")),
        ("requested_day", "DATE", "the day it was made (store time)"),
        ("slot_day", "DATE", "the day of the slot asked for (store time)"),
        ("slot_arrival", V, "the slot's start, HH:MM (store time)"),
        ("answer_by", TS, ("the deadline for the store's answer: unanswered by then it "
                           "lapses (empty for a request made before requests had one, "
                           "until its lapse is recorded with the deadline reckoned then)")),
        ("outcome", V, ("confirmed, declined, cancelled (by the customer) or expired, as "
                        "recorded; empty while it waits for an answer. One still empty past "
                        "its answer_by has lapsed by the clock: the KPI "
                        "online_booking_conversion counts it expired from then, before "
                        "the retention run records OnlineBooking.Expired")),
        ("outcome_at", TS, ("when it ended: the desk's confirmation or decline, the "
                            "customer's cancellation, or for a lapse its answer_by")),
        ("answered_at", TS, "when the desk confirmed or declined it"),
        ("hours_to_answer", "DECIMAL(8,2)", ("answered_at − requested_at, h (to 1/100 h, "
                                             "half up)")),
        ("appointment_id", V, ("the appointment it became when confirmed (UUID); see "
                               "fact_appointments")),
        ("customer_id", V, "the customer it was confirmed for (UUID); see dim_customer"),
        ("new_customer", "BOOLEAN", ("whether the confirmation registered a new customer "
                                     "from the request")),
        ("work_order_id", V, ("the work order opened when its appointment's car arrived "
                              "(UUID); see fact_work_orders; empty until then")),
        ("arrived_at", TS, "when the appointment's car arrived (the work order opened)"),
    ), ("booking_id",))
