//! The simulated API's NDC-style dialect: `POST
//! /sim/{provider}/ndc/AirShopping` takes a SOAP envelope holding an
//! `AirShoppingRQ` and answers one holding an `AirShoppingRS`, shaped after
//! IATA NDC (simplified): namespaces, attributes, elements written once or
//! repeated, amounts as text and as `Amount` + `DecimalPlaces` pairs.
//! Errors answer a SOAP fault with 400, 404 or 503.
//!
//! Request (inside `soap:Envelope/soap:Body`; names are read without their
//! namespace):
//!
//! ```xml
//! <AirShoppingRQ>
//!   <CoreQuery><OriginDestinations><OriginDestination>
//!     <Departure><AirportCode>CGK</AirportCode><Date>2026-12-20</Date></Departure>
//!     <Arrival><AirportCode>DPS</AirportCode></Arrival>
//!   </OriginDestination></OriginDestinations></CoreQuery>
//!   <Travelers>
//!     <Traveler><AnonymousTraveler><PTC Quantity="2">ADT</PTC></AnonymousTraveler></Traveler>
//!   </Travelers>
//!   <Preference><CabinPreferences><CabinType><Code>Y</Code></CabinType></CabinPreferences></Preference>
//! </AirShoppingRQ>
//! ```
//!
//! `PTC` is `ADT`, `CHD` or `INF`; the cabin code `Y`, `W`, `C` or `F`
//! (economy when absent).

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Ask, Refusal, airline, quote};
use crate::api::AppState;
use crate::model::{Offer, PassengerType, Travellers, money};
use crate::providers::upstream::xml::escape_xml;

const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const NDC: &str = "http://www.iata.org/IATA/2015/00/2019.2/IATA_AirShoppingRS";

/// `POST /sim/{provider}/ndc/AirShopping`.
#[utoipa::path(post, path = "/sim/{provider}/ndc/AirShopping", tag = "sim",
    params(("provider" = String, Path, description = "A mock provider's id")),
    request_body(content = String, content_type = "text/xml", description = "A SOAP envelope holding an AirShoppingRQ"),
    responses(
        (status = 200, description = "A SOAP envelope holding an AirShoppingRS", body = String, content_type = "text/xml"),
        (status = 400, description = "Invalid request (a SOAP fault)", body = String, content_type = "text/xml"),
        (status = 404, description = "No such mock airline (a SOAP fault)", body = String, content_type = "text/xml"),
        (status = 408, description = "The airline hung (simulated)", body = crate::api::error::ErrorEnvelope),
        (status = 413, description = "The body is too large", body = crate::api::error::ErrorEnvelope),
        (status = 503, description = "Busy or failing (a SOAP fault)", body = String, content_type = "text/xml"),
    ))]
pub async fn air_shopping(
    State(app): State<AppState>,
    Path(provider): Path<String>,
    body: Bytes,
) -> Response {
    let answered = async {
        let def = airline(&app, &provider)?;
        let ask = read(&body)?;
        let offers = quote(&app, &def, ask).await?;
        Ok::<_, Refusal>(envelope(&shopping_rs(&def.airline.code, &offers)))
    }
    .await;
    let (status, xml) = match answered {
        Ok(xml) => (StatusCode::OK, xml),
        Err(refusal) => (refusal.status, envelope(&fault(&refusal))),
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        xml,
    )
        .into_response()
}

/// Reads an AirShoppingRQ (in a SOAP envelope or bare).
fn read(body: &[u8]) -> Result<Ask, Refusal> {
    let text =
        std::str::from_utf8(body).map_err(|_| Refusal::invalid("the request is not UTF-8"))?;
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| Refusal::invalid(format!("the request is not well-formed XML: {e}")))?;
    let find = |name: &str| doc.descendants().find(|n| n.has_tag_name(name));
    let text_of = |parent: &str, child: &str| -> Option<String> {
        find(parent)?
            .children()
            .find(|n| n.has_tag_name(child))?
            .text()
            .map(|t| t.trim().to_string())
    };
    let origin = text_of("Departure", "AirportCode")
        .ok_or_else(|| Refusal::invalid("Departure/AirportCode is missing"))?;
    let destination = text_of("Arrival", "AirportCode")
        .ok_or_else(|| Refusal::invalid("Arrival/AirportCode is missing"))?;
    let date = text_of("Departure", "Date")
        .ok_or_else(|| Refusal::invalid("Departure/Date is missing"))?;
    let departure_date = date
        .parse()
        .map_err(|_| Refusal::invalid("Departure/Date is not a date such as 2026-12-20"))?;
    let mut travellers = Travellers {
        adults: 0,
        children: 0,
        infants: 0,
    };
    for ptc in doc.descendants().filter(|n| n.has_tag_name("PTC")) {
        let quantity: u8 = ptc
            .attribute("Quantity")
            .unwrap_or("1")
            .trim()
            .parse()
            .map_err(|_| Refusal::invalid("PTC/@Quantity is not a number from 0 to 255"))?;
        let slot = match ptc.text().map(str::trim) {
            Some("ADT") => &mut travellers.adults,
            Some("CHD") => &mut travellers.children,
            Some("INF") => &mut travellers.infants,
            _ => return Err(Refusal::invalid("PTC is ADT, CHD or INF")),
        };
        *slot = slot.saturating_add(quantity);
    }
    let cabin = match text_of("CabinType", "Code").as_deref() {
        None | Some("Y") => None,
        Some("W") => Some("premium_economy".to_string()),
        Some("C") => Some("business".to_string()),
        Some("F") => Some("first".to_string()),
        Some(_) => return Err(Refusal::invalid("CabinType/Code is Y, W, C or F")),
    };
    Ok(Ask {
        origin,
        destination,
        departure_date,
        travellers,
        cabin,
        request_id: None,
    })
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP}\"><soap:Body>{body}</soap:Body></soap:Envelope>\n"
    )
}

fn fault(refusal: &Refusal) -> String {
    let code = if refusal.status.is_client_error() {
        "soap:Client"
    } else {
        "soap:Server"
    };
    format!(
        "<soap:Fault><faultcode>{code}</faultcode><faultstring>{}: {}</faultstring></soap:Fault>",
        refusal.code,
        escape_xml(&refusal.message)
    )
}

/// An amount as `Amount` (in minor units) and `DecimalPlaces`.
fn minor_units(amount: rust_decimal::Decimal, currency: &str) -> String {
    let places = money::digits(currency);
    let units = (amount * rust_decimal::Decimal::from(10u64.pow(places))).trunc();
    format!("Amount=\"{units}\" DecimalPlaces=\"{places}\"")
}

/// The AirShoppingRS of the offers.
fn shopping_rs(owner: &str, offers: &[Offer]) -> String {
    let mut out = format!(
        "<ns:AirShoppingRS xmlns:ns=\"{NDC}\" Version=\"19.2\"><ns:Success/><ns:OffersGroup><ns:CarrierOffers Owner=\"{}\">",
        escape_xml(owner)
    );
    for o in offers {
        let price = &o.price;
        let ccy = escape_xml(&price.currency);
        let _ = write!(
            out,
            "<ns:Offer OfferID=\"{}\" Owner=\"{}\"",
            escape_xml(&o.id),
            escape_xml(&o.airline.code)
        );
        if let Some(expires) = o.expires_at {
            let _ = write!(out, " TimeLimit=\"{expires}\"");
        }
        let _ = write!(
            out,
            "><ns:TotalPrice><ns:TotalAmount CurCode=\"{ccy}\">{}</ns:TotalAmount></ns:TotalPrice>",
            price.total
        );
        if let (Some(base), Some(taxes)) = (price.base, price.taxes) {
            let _ = write!(
                out,
                "<ns:PriceBreakdown><ns:Base CurCode=\"{ccy}\" {}/><ns:Taxes CurCode=\"{ccy}\" {}/></ns:PriceBreakdown>",
                minor_units(base, &price.currency),
                minor_units(taxes, &price.currency)
            );
        }
        for p in &price.by_passenger {
            let ptc = match p.kind {
                PassengerType::Adult => "ADT",
                PassengerType::Child => "CHD",
                PassengerType::Infant => "INF",
            };
            let _ = write!(
                out,
                "<ns:PaxPrice PTC=\"{ptc}\" Quantity=\"{}\"><ns:Amount CurCode=\"{ccy}\">{}</ns:Amount></ns:PaxPrice>",
                p.count, p.each
            );
        }
        if let Some(brand) = &o.fare.brand {
            let _ = write!(out, "<ns:FareFamily>{}</ns:FareFamily>", escape_xml(brand));
        }
        let yes_no = |b: Option<bool>| b.map_or("", |b| if b { "true" } else { "false" });
        let _ = write!(
            out,
            "<ns:Conditions Refundable=\"{}\" Changeable=\"{}\"/>",
            yes_no(o.fare.refundable),
            yes_no(o.fare.changeable)
        );
        let bags = &o.fare.baggage;
        let _ = write!(out, "<ns:Baggage>");
        if let Some(n) = bags.checked_bags {
            let _ = write!(out, "<ns:Checked Pieces=\"{n}\"");
            if let Some(kg) = bags.checked_kg {
                let _ = write!(out, " Kg=\"{kg}\"");
            }
            let _ = write!(out, "/>");
        }
        if let Some(n) = bags.cabin_bags {
            let _ = write!(out, "<ns:Cabin Pieces=\"{n}\"/>");
        }
        let _ = write!(
            out,
            "</ns:Baggage><ns:SeatsLeft>{}</ns:SeatsLeft><ns:Journey CabinCode=\"{}\">",
            o.seats_left,
            cabin_code(o.cabin)
        );
        for s in &o.segments {
            let number = |carrier: &str, flight: &str| {
                flight
                    .strip_prefix(carrier)
                    .unwrap_or(flight)
                    .trim()
                    .to_string()
            };
            let _ = write!(
                out,
                "<ns:Segment><ns:Departure><ns:AirportCode>{}</ns:AirportCode><ns:DateTime>{}</ns:DateTime></ns:Departure>\
                 <ns:Arrival><ns:AirportCode>{}</ns:AirportCode><ns:DateTime>{}</ns:DateTime></ns:Arrival>\
                 <ns:MarketingCarrier AirlineID=\"{}\" FlightNumber=\"{}\"/>\
                 <ns:OperatingCarrier AirlineID=\"{}\" FlightNumber=\"{}\"/>\
                 <ns:Duration>PT{}H{}M</ns:Duration></ns:Segment>",
                escape_xml(&s.from),
                s.depart_at,
                escape_xml(&s.to),
                s.arrive_at,
                escape_xml(&s.marketing_carrier),
                escape_xml(&number(&s.marketing_carrier, &s.flight_number)),
                escape_xml(&s.operating_carrier),
                escape_xml(&number(&s.operating_carrier, &s.operating_flight_number)),
                s.duration_minutes / 60,
                s.duration_minutes % 60
            );
        }
        let _ = write!(out, "</ns:Journey></ns:Offer>");
    }
    out.push_str("</ns:CarrierOffers></ns:OffersGroup></ns:AirShoppingRS>");
    out
}

fn cabin_code(cabin: crate::model::Cabin) -> &'static str {
    match cabin.as_str() {
        "premium_economy" => "W",
        "business" => "C",
        "first" => "F",
        _ => "Y",
    }
}
