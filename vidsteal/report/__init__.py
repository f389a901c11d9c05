"""Reports: a study summary (plain JSON) rendered to Markdown and a self-contained HTML page with plots."""
