"""Test and benchmark support shared by every app: process helpers and (later) the HTTP
fakes of Whaticket, Cal.com, OpenAI and Gemini."""
