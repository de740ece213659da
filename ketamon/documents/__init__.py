"""Printed documents: the session summary, the esketamine monitoring form, the
printed chart and headless PDF writing, drawn with Qt painting (QtGui) only.

Must not import QtWidgets or `ketamon.gui`: the command line prints through
this package without loading the GUI. Print preview (a dialog) stays in
`ketamon.gui.printing` and paints with the same functions.

    layout         the page-layout engine (fragments, pages, tables, running header)
    chart_drawing  the blood pressure / heart rate chart as printed
    summary        the session summary          render_summary(report, device)
    form           the monitoring form          render_form(form, device)
    pdf            write_summary_pdf / write_form_pdf (audited), ensure_app
"""
