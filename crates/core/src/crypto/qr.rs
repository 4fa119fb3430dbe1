//! QR images of an otpauth URL, as PNG or SVG, rendered by the server so
//! that enrolment works without any client-side library.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

use crate::error::AuthError;

const QUIET_ZONE: usize = 4;
const PIXELS_PER_MODULE: usize = 6;

fn code(text: &str) -> Result<QrCode, AuthError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| AuthError::Internal(format!("QR encoding: {e}")))
}

/// An SVG document of the QR code of `text`.
pub fn svg(text: &str) -> Result<String, AuthError> {
    Ok(code(text)?
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// A grayscale PNG of the QR code of `text`.
pub fn png(text: &str) -> Result<Vec<u8>, AuthError> {
    let qr = code(text)?;
    let modules = qr.width();
    let colors = qr.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE;
    let side = side_modules * PIXELS_PER_MODULE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
        for dy in 0..PIXELS_PER_MODULE {
            let row = (my * PIXELS_PER_MODULE + dy) * side;
            let start = row + mx * PIXELS_PER_MODULE;
            if let Some(span) = pixels.get_mut(start..start + PIXELS_PER_MODULE) {
                span.fill(0);
            }
        }
    }
    let side32 = u32::try_from(side).map_err(|_| AuthError::Internal("QR too large".into()))?;
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side32, side32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc
            .write_header()
            .map_err(|e| AuthError::Internal(format!("PNG header: {e}")))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| AuthError::Internal(format!("PNG data: {e}")))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_has_signature_and_svg_is_svg() {
        let url = "otpauth://totp/otpgate:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        let p = png(url).expect("png");
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
        let s = svg(url).expect("svg");
        assert!(s.contains("<svg"));
    }
}
