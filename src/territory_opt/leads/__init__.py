"""Leads: batch allocation, the online router and policy replay."""
